"""The environment of an app process (daphne, a worker, the watcher) started by the harness."""


def server_env(base, *, emulator_url=None, redis=None, **extra):
    """``base`` (the caller's database, secrets, ``VAR_DIR``...) made into the environment of an app process.

    Always: ``ALLOWED_HOSTS`` for 127.0.0.1, and no ``DJANGO_ALLOW_ASYNC_UNSAFE``. With ``emulator_url``:
    the GitHub URLs (API, GraphQL, web) of the emulator. With ``redis`` (``harness.redis_keys.RedisKeys``):
    production mode on those keys; without, ``base`` decides (no ``REDIS_URL``: embedded mode). ``extra``
    comes last, as strings.
    """
    env = {name: value for name, value in base.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    if emulator_url:
        env.update(
            GITHUB_API_URL=emulator_url,
            GITHUB_GRAPHQL_URL=f"{emulator_url}/graphql",
            GITHUB_WEB_URL=emulator_url,
        )
    if redis is not None:
        env.update(redis.env())
    env.update({name: str(value) for name, value in extra.items()})
    return env
