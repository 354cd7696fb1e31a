/* rdv_tls.c - under construction */
