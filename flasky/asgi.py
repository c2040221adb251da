"""What hypercorn serves: `hypercorn --config hypercorn.toml flasky.asgi:app`."""

from flasky import create_app

app = create_app()
