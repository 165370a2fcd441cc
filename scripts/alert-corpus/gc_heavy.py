"""A gc-heavy Python workload for the alert corpus: builds object graphs with reference cycles
(a few hundred thousand objects), drops them, and lets the cyclic collector reclaim them, over and
over. It does not leak: its memory rises and falls with each batch and the collector's timing."""
import random
import time

rng = random.Random(20261206)
while True:
    nodes = []
    for _ in range(rng.randint(50_000, 250_000)):
        node = {"payload": "x" * rng.randint(16, 256), "next": None}
        if nodes:
            node["next"] = nodes[-1]
            nodes[-1]["prev"] = node  # a cycle: only the cyclic collector frees it
        nodes.append(node)
    time.sleep(rng.uniform(0.5, 3))
    del nodes
    time.sleep(rng.uniform(0.5, 3))
