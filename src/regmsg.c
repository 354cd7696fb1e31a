/* regmsg.c - under construction */
