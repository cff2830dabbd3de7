"""A worker thread dies with a traceback; the main program goes on printing for a long time."""

import sys
import threading


def process(item):
    return 10 / item["weight"]


def worker(items):
    for item in items:
        process(item)


def main():
    t = threading.Thread(target=worker, args=([{"weight": 1}, {"weight": 0}],), name="worker-1")
    t.start()
    t.join()
    for step in range(int(sys.argv[1])):
        print(f"step {step}: loss=0.{step % 97:02d} throughput=123.4 items/s")
    print("done")


main()
