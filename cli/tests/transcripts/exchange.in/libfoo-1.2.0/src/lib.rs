// libfoo 1.2.0
