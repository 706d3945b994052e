"""``python -m stallscope``: the same as the installed ``stallscope`` command."""

from stallscope.entry import run

if __name__ == "__main__":
    run()
