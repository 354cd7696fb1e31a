/* sdnotify.c - under construction */
