"""The compute API process: the HTTP routes (``routes/``) and what the API does with a
request (servers, their actions, flavors, key pairs, groups, hosts, quotas), before the
conductor and the agents take over."""
