// libfoo 2
