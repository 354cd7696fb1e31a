/* ipc.c - under construction */
