"""uWSGI compatibility: the functions of uWSGI's API, each mapped onto sigsup's own."""
