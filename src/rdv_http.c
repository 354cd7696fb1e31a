/* rdv_http.c - under construction */
