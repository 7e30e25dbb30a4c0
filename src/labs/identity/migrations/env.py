from labs.common.migrate_env import run
from labs.identity.models import IdentityBase

run(IdentityBase.metadata)
