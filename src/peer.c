/* peer.c - under construction */
