"""Your models: import each here and name it in `__all__`. `models/__init__.py` takes them
from here, so that Alembic sees their tables and `from <package>.models import Project`
works (the README, "Adding a resource").

copier writes this file once, and `copier update` leaves it as you made it.
"""

__all__: list[str] = []
