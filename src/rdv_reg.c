/* rdv_reg.c - under construction */
