/* sdnotify.h - under construction */
