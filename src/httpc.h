/* httpc.h - under construction */
