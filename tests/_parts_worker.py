"""Run one per-image stage in a subprocess: ``python -m tests._parts_worker DIR STAGE``.

``DIR`` is a project folder (params.yaml, data/toy/activations); ``STAGE`` is ``concepts`` or
``importance``. Multi-process runs set JAX_NUM_PROCESSES / JAX_PROCESS_ID; forced CPU devices come
from XLA_FLAGS.
"""

import os
import sys


def main(workdir, stage):
    os.chdir(workdir)
    from jaxconcepts.stages import concepts, importance

    {"concepts": concepts, "importance": importance}[stage].main(["--dataset", "toy"])


if __name__ == "__main__":
    main(*sys.argv[1:])
