/* rdv.c - under construction */
