/* ipc.h - under construction */
