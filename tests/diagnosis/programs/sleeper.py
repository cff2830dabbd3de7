"""Work forever; the scheduler ends it at its time limit."""

import time

step = 0
while True:
    print(f"epoch {step}: still training", flush=True)
    step += 1
    time.sleep(0.05)
