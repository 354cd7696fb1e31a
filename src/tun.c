/* tun.c - under construction */
