/* pkt.c - under construction */
