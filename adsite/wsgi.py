"""WSGI entry point (gunicorn adsite.wsgi; runserver loads it too, through WSGI_APPLICATION).

Being the web process's entry point, it also sets the web's statement timeout on PostgreSQL
(adsite/db_timeouts.py), which commands such as runconsumer never load.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adsite.settings")

from adsite.db_timeouts import limit_statements_in_this_process  # noqa: E402

limit_statements_in_this_process()  # before any connection is opened
application = get_wsgi_application()
