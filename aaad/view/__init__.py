"""The AAA view: profiles and logins a NAS may authenticate.

- :mod:`aaad.view.model`: the dataclasses and the field rules;
- :mod:`aaad.view.store`: read queries (every lookup scoped by org);
- :mod:`aaad.view.write`: the one write path (row, change-feed row and
  typed event in the caller's transaction; the owner rule);
- :mod:`aaad.view.events`: the ``login.*``, ``profile.changed`` and
  ``cycle.started`` payloads;
- :mod:`aaad.view.memory`: the in-memory view the auth hot path reads;
- :mod:`aaad.view.follower`: brings memory up to date from the change feed;
- :mod:`aaad.view.cycle_reset`: logins entering a new quota cycle;
- :mod:`aaad.view.throttle`: the FUP level applied (for accounting's aggregation pass).
"""
