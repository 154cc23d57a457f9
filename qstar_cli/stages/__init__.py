"""One module per subcommand that writes or reads run folders, each a plain `run(config) -> run dir`
callable without the CLI: collect, label, train_q, eval (each with `plan(config)`, what its run will
be), report and merge. Their table is `qstar_cli.config.sections.STAGES`.
"""
