from labs.common.migrate_env import run
from labs.compute.models import ComputeBase

run(ComputeBase.metadata)
