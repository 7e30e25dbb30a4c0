from labs.common.migrate_env import run
from labs.dns.models import DnsBase

run(DnsBase.metadata)
