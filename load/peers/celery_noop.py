"""The Python peer of the throughput benchmark: Celery 5, a no-op task, acks_late, on the
same Redis as the Rust workers. `load/bench_throughput.py` enqueues a backlog with
`python celery_noop.py enqueue REDIS_URL N`, then starts two worker processes of eight
threads each (`celery -A celery_noop worker --pool threads --concurrency 8`) and times the
drain. Installed into load/.venv by `make bench` only.
"""

import os
import sys

from celery import Celery

app = Celery("celery_noop", broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(i):
    return None


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "enqueue":
    app.conf.broker_url = sys.argv[2]
    with app.producer_or_acquire() as producer:
        for i in range(int(sys.argv[3])):
            noop.apply_async((i,), producer=producer)
