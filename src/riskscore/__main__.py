from riskscore.cli import app

app(prog_name="riskscore")
