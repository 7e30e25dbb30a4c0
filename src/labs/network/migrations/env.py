from labs.common.migrate_env import run
from labs.network.models import NetworkBase

run(NetworkBase.metadata)
