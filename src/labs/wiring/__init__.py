"""One place that wires a process: each module here builds one kind of Labs process
(or, for ``cloud``, all of them in one) from a site's configuration, passing every
service the database, bus, drivers and other services it uses. ``labs up``, ``labs
serve X``, ``labs agent`` and the tests build their objects through it."""
