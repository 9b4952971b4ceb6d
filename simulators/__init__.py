"""callops vendor sandbox: the five vendor APIs simulated in one stdlib-only WSGI app.

Run it with `python -m simulators --port 0`, or start it in-process with
`simulators.server.start(port=0)`. See README.md in this folder.
"""
