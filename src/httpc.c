/* httpc.c - under construction */
