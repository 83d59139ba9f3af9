"""Plain uWSGI code: nothing here knows about sigsup."""

import uwsgi
from uwsgidecorators import cron, postfork, spool, timer


@postfork
def hello():
    uwsgi.log(f"worker {uwsgi.worker_id()} mule {uwsgi.mule_id()} ready")


@timer(10, target="workers")
def refresh(num):
    uwsgi.log(f"worker {uwsgi.worker_id()} refreshes (signal {num})")


@cron(-5, -1, -1, -1, -1)
def report(num):
    send_report.spool(kind=b"every-5-minutes")


@spool
def send_report(args):
    uwsgi.log(f"report {args['kind'].decode()} sent")


def on_change(num):
    uwsgi.reload()


uwsgi.register_signal(99, "", on_change)
uwsgi.add_file_monitor(99, "app.py")
