"""Reference systems the daemons are built against. Not part of the ``processors`` product."""
