from labs.common.migrate_env import run
from labs.image.models import ImageBase

run(ImageBase.metadata)
