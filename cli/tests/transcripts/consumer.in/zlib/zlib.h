int deflate(void);
