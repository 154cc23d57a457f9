"""One module per subcommand, each a plain `run(config) -> run dir`, callable without the CLI."""
