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
    python celery_bench.py chains SECONDS | fan FANS | tasks TASKS

Each workload runs in a client process of its own, and keeps every result it waited for until
it is done: a result dropped while the client waits for another unsubscribes from Redis inside
the subscription's own call (`AsyncResult.__del__`), and the client hangs for good (seen with
Celery 5.4 and redis-py 5).
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
    kept = list(in_flight)
    done = 0
    while in_flight:
        in_flight.pop(0).get(timeout=120)
        done += 1
        if time.monotonic() < deadline:
            in_flight.append(chain(*[step.si(1) for _ in range(length)]).apply_async())
            kept.append(in_flight[-1])
    return done * length / (time.monotonic() - start)


def fans(count, width=100):
    kept = []
    for _ in range(3):
        kept.append(step.delay(1))
        kept[-1].get(timeout=120)
        kept.append(chord([step.s(i) for i in range(width)])(gather.s()))
        kept[-1].get(timeout=120)
    start = time.monotonic()
    for _ in range(count):
        kept.append(step.delay(1))  # the split
        kept[-1].get(timeout=120)
        kept.append(chord([step.s(i) for i in range(width)])(gather.s()))
        assert kept[-1].get(timeout=120) == width
    return count * (width + 2) / (time.monotonic() - start)


def tasks(count):
    start = time.monotonic()
    results = [step.delay(i) for i in range(count)]
    for result in results:
        result.get(timeout=300)
    return count / (time.monotonic() - start)


if __name__ == "__main__":
    workload, amount = sys.argv[1], float(sys.argv[2])
    if workload == "chains":
        print("RESULT chains celery %f" % chains(amount), flush=True)
    elif workload == "fan":
        print("RESULT fan celery %f" % fans(int(amount)), flush=True)
    else:
        tasks(1000)
        print("RESULT tasks celery %f" % tasks(int(amount)), flush=True)
