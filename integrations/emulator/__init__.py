"""A local stand-in for api.github.com and github.com's OAuth pages.

Deterministic seeded data (``data.build_world``) served over real HTTP on
one port (``server.EmulatorServer``): REST, GraphQL against GitHub's
published schema, OAuth, rate-limit headers, and injectable faults. It has
no Django dependency, so tests can run it in-process or as a subprocess.
"""
