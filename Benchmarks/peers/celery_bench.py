"""Celery's side of the peer comparison (Benchmarks/peers/compare.sh).

The same three workloads as Weft's fleet and the raw librabbitmq loop, on the same broker:
  chains: 64 concurrent 10-task chains for SECONDS; hops (tasks) per second
  fan:    a chord of 100 tasks and its callback, after a split task, one at a time; hops/s
  tasks:  10,000 independent tasks; tasks/s

Tasks are no-ops. Messages are persistent (Celery's default), acknowledged after the task ran
(task_acks_late, as Weft acks only once a job's effects are recorded), results kept in Redis
(Celery's chords need a result backend). Prints one `RESULT <workload> celery <per second>` line
each.

    celery -A celery_bench worker ...     # the workers (compare.sh starts them)
    python celery_bench.py SECONDS FANS TASKS
"""
import os
import sys
import time

from celery import Celery, chain, chord

app = Celery(
    "celery_bench",
    broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    task_acks_late=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue="peers.celery",
    result_expires=3600,
    worker_hijack_root_logger=False,
)


@app.task
def step(value):
    return value


@app.task
def gather(values):
    return len(values)


def chains(seconds, concurrency=64, length=10):
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    in_flight = [chain(*[step.si(1) for _ in range(length)]).apply_async() for _ in range(concurrency)]
    done = 0
    while in_flight:
        result = in_flight.pop(0)
        result.get(timeout=120)
        done += 1
        if time.monotonic() < deadline:
            in_flight.append(chain(*[step.si(1) for _ in range(length)]).apply_async())
    return done * length / (time.monotonic() - start)


def fans(count, width=100):
    for _ in range(3):
        step.delay(1).get(timeout=120)
        chord(step.s(i) for i in range(width))(gather.s()).get(timeout=120)
    start = time.monotonic()
    for _ in range(count):
        step.delay(1).get(timeout=120)  # the split
        assert chord(step.s(i) for i in range(width))(gather.s()).get(timeout=120) == width
    return count * (width + 2) / (time.monotonic() - start)


def tasks(count):
    start = time.monotonic()
    results = [step.delay(i) for i in range(count)]
    for result in results:
        result.get(timeout=300)
    return count / (time.monotonic() - start)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    fan_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    task_count = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    print("RESULT chains celery %f" % chains(seconds), flush=True)
    print("RESULT fan celery %f" % fans(fan_runs), flush=True)
    tasks(1000)
    print("RESULT tasks celery %f" % tasks(task_count), flush=True)
