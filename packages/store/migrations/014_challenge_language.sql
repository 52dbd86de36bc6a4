-- The language a challenge was written in, recorded when it is sent. Its pages (confirm, thanks,
-- spent, expired) are shown in it: read from the recipient's setting at every visit, they switched
-- language when the recipient changed it after the mail had gone out. Challenges sent before this
-- migration keep following the setting.
ALTER TABLE challenges ADD COLUMN language text;
