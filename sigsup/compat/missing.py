"""What uWSGI's ``uwsgi`` module has and sigsup does not: each name raises AttributeError
naming it and the migration guide, never returns None."""

from __future__ import annotations

DOC = "docs/migrating-from-uwsgi.md"

CACHE = ("cache_get", "cache_set", "cache_update", "cache_del", "cache_exists",
         "cache_clear", "cache_keys")

# by what they belong to in uWSGI: sigsup serves no requests and has no plugins
NOT_PROVIDED: dict[str, str] = {
    **dict.fromkeys((
        "accepting", "add_var", "async_connect", "async_sleep", "chunked_read",
        "chunked_read_nb", "connection_fd", "disconnect", "embedded_data", "extract",
        "is_connected", "listen_queue", "log_this_request", "logsize", "offload",
        "parsefile", "ready_fd", "request_id", "route", "send", "sendfile", "set_logvar",
        "get_logvar", "set_user_harakiri", "set_warning_message", "suspend", "total_requests",
        "wait_fd_read", "wait_fd_write", "websocket_handshake", "websocket_recv",
        "websocket_recv_nb", "websocket_send", "websocket_send_binary", "workers",
        "add_cron2", "green_schedule", "mem", "metric_get", "metric_set", "metric_inc",
        "metric_dec", "metric_mul", "metric_div", "register_route", "reload_on",
        "applications", "apps", "magic_table", "cores", "buffer_size", "loop",
        "sharedarea_read", "sharedarea_write", "sharedarea_inc", "queue_get", "queue_set",
        "queue_push", "queue_pull", "queue_pop", "queue_last", "queue_slot", "queue_pull_slot",
        "i_am_the_lord", "lord_scroll", "scrolls", "alarm", "stop", "brutal_reload",
        "chain_reload", "worker_reload", "set_spooler_frequency_ms",
    ), "request handling, HTTP and uWSGI's other subsystems are not part of sigsup"),
    **dict.fromkeys(("rpc", "call", "register_rpc", "rpc_list"),
                    "sigsup has no RPC subsystem"),
    "install_mule_msg_hook": "set uwsgi.mule_msg_hook = fn instead",
    "spooler_get_task": "sigsup's job files are not uWSGI's; use `sigsup jobs`",
}


def not_provided(module: str, name: str) -> AttributeError:
    why = NOT_PROVIDED.get(name)
    if why is not None:
        return AttributeError(f"{module}.{name} is not provided by sigsup ({why}); see {DOC}")
    return AttributeError(f"module {module!r} has no attribute {name!r} (sigsup provides "
                          f"uWSGI's signal, timer, mule, spooler, lock and cache API; see "
                          f"{DOC})")
