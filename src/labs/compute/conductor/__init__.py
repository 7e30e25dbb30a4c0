"""The conductor process: owns compute's database on behalf of the agents and drives
every build, move and delete."""
