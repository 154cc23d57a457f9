"""`qstar serve`: any search method behind an OpenAI-compatible API.

- `requests.py` reads a request body into questions and the search settings of each, checked like
  `--set` (an unknown field or a bad value is a 400 that names it);
- `engine.py` is the one thread that owns the policy: every request's questions join the same
  streaming driver as `qstar eval`'s, so concurrent requests share the engine's batch;
- `app.py` is the ASGI app (FastAPI on uvicorn): the endpoints, OpenAI-style errors, Server-Sent
  Events, the API key, and the Prometheus metrics (`metrics.py`);
- `main.py` loads the models once, checks the address, runs uvicorn and prints a summary at the end.
"""
