from gennaker.cli.main import app

app()
