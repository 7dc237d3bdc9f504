DROP TABLE admin_log;
DROP TABLE admin_session;
