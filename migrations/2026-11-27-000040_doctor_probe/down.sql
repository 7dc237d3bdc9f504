DROP TABLE doctor_probe;
