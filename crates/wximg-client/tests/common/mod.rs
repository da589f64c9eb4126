pub mod photo;
