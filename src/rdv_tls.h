/* rdv_tls.h - under construction */
